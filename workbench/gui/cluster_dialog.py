"""Run on cluster…: hand a run folder's training to SLURM (or this machine's local executor) as a job."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QApplication, QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from workbench.engine.cluster import ClusterOptions, sbatch_script, submit_run
from workbench.gui.workers import JobSlot, WhileBusy


class ClusterDialog(QDialog):
    """Partition, GPUs per node, nodes, time limit and "use this machine"; "Copy job script" copies the sbatch
    script; Submit submits the job off the GUI thread and shows its id and state."""

    def __init__(self, run_dir: str | Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.setWindowTitle(f"Run {self.run_dir.name} on a cluster")
        defaults = ClusterOptions()
        self.partition = QLineEdit(defaults.partition, self)
        self.partition.setPlaceholderText("the cluster's default")
        self.gpus = self._spin(defaults.gpus, 0, 64)
        self.nodes = self._spin(defaults.nodes, 1, 1024)
        self.minutes = self._spin(defaults.time, 1, 60 * 24 * 30)
        self.minutes.setSuffix(" min")
        self.local = QCheckBox("Use this machine (local executor)", self)
        self.local.toggled.connect(lambda on: self.nodes.setEnabled(not on))
        form = QFormLayout()
        for label, field in (("Partition", self.partition), ("GPUs per node", self.gpus), ("Nodes", self.nodes),
                             ("Time limit", self.minutes), ("", self.local)):
            form.addRow(label, field)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setObjectName("clusterMessage")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("Copy job script", self)
        self.submit_button = QPushButton("Submit", self)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.submit_button, QDialogButtonBox.ButtonRole.ApplyRole)
        buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy_script)
        self.submit_button.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self._submission = JobSlot(WhileBusy.IGNORE, self)
        self.job_id = ""

    def _spin(self, value: int, low: int, high: int) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    def options(self) -> ClusterOptions:
        local = self.local.isChecked()
        return ClusterOptions(self.partition.text().strip(), self.gpus.value(), 1 if local else self.nodes.value(),
                              self.minutes.value(), local)

    def copy_script(self) -> None:
        """Put the equivalent sbatch script on the clipboard."""
        QApplication.clipboard().setText(sbatch_script(self.run_dir, self.options()))
        self.message.setText("The sbatch script is on the clipboard: save it as a file and submit it with sbatch.")

    def submit(self) -> None:
        """Submit the job on a worker thread; its id and state appear when submitted."""
        options = self.options()
        self.submit_button.setEnabled(False)
        self.message.setText("Submitting…")
        self._submission.run(lambda _cancel, _progress: self._submit(options), succeeded=self._submitted,
                             failed=self._refused)

    def _submit(self, options: ClusterOptions) -> tuple[str, str, str]:
        record, job = submit_run(self.run_dir, options)
        return record.job_id, record.executor, job.state.lower()

    def _submitted(self, result: tuple[str, str, str]) -> None:
        self.job_id, executor, state = result
        self.message.setText(f"Submitted job {self.job_id} ({executor} executor): {state}. The Runs page shows "
                             "where it stands.")

    def _refused(self, message: str, _details: str) -> None:
        self.submit_button.setEnabled(True)
        self.message.setText(f"The job was not submitted: {message}")

    def done(self, result: int) -> None:
        """Close, once a submission under way has ended (it takes seconds), so that its job is recorded."""
        self._submission.wait()
        super().done(result)
