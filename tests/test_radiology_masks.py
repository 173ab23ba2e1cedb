"""DICOM SEG and RTSTRUCT objects that refer to a folder's images become those images' masks: kept out of the
training images, matched to the slices they annotate, usable as a region label, drawn in the preview.

Every file is real: a CT series written with pydicom, a SEG made from it with highdicom, an RTSTRUCT built as
a pydicom data set, and pydicom's own CT_small.dcm beside them (annotated by neither)."""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import highdicom  # noqa: E402
import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from highdicom.sr.coding import CodedConcept  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid  # noqa: E402

from data_helpers import CT_POSITIONS, SECRET_TAGS, copy_dicom, write_ct_study, write_multiframe_ct  # noqa: E402
from workbench.config import DataConfig  # noqa: E402
from workbench.data import load_dataset, scan_folder  # noqa: E402
from workbench.data.masks import read_masks  # noqa: E402
from workbench.data.rtstruct import fill_polygon  # noqa: E402
from workbench.probes.knn import knn_probe  # noqa: E402
from workbench.tasks import config_from_dict  # noqa: E402

ORIGIN, PIXEL_MM = (-10.0, -10.0), 6.0  # write_ct_slice's grid: pixel (row, column) centre at ORIGIN + 6 mm steps
SIZE = 16
FRAME_OF_REFERENCE = generate_uid()
LIVER_SLICES = {1: (slice(3, 7), slice(4, 10)), 3: (slice(5, 9), slice(5, 9))}
"""Where the SEG's "Liver" is drawn: slice index (in z order) -> rows, columns."""
TUMOUR_NAMED, TUMOUR_BY_PLANE = 2, 4
"""Slices (in z order) of the RTSTRUCT's two "Tumour" contours: one names its image, the other only lies on it."""
CIRCLE = (7.3, 8.1, 4.2)
"""The contours' circle: centre column, centre row and radius, in pixels."""


def ct_series(folder: Path) -> list[pydicom.Dataset]:
    """The axial CT series of `write_ct_study` (plus its scout and reformat) with a frame of reference and the
    study attributes a SEG copies; its axial slices in z order."""
    files = write_ct_study(folder)
    slices = []
    for path in files:
        dataset = with_study_attributes(pydicom.dcmread(path))
        dataset.save_as(path)
        slices.append(dataset)
    return sorted(slices, key=lambda dataset: float(dataset.ImagePositionPatient[2]))


def with_study_attributes(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """`dataset` in the shared frame of reference, with the patient and study attributes a SEG copies."""
    dataset.FrameOfReferenceUID, dataset.PatientSex, dataset.StudyID = FRAME_OF_REFERENCE, "O", "1"
    dataset.StudyDate, dataset.StudyTime, dataset.ReferringPhysicianName = "20200101", "120000", ""
    dataset.SeriesNumber = 1
    return dataset


def liver_masks() -> np.ndarray:
    masks = np.zeros((len(CT_POSITIONS), SIZE, SIZE), dtype=bool)
    for index, (rows, columns) in LIVER_SLICES.items():
        masks[index, rows, columns] = True
    return masks


def write_seg(path: Path, sources: list[pydicom.Dataset], masks: np.ndarray, labels: tuple[str, ...] = ("Liver",),
              segmentation_type: str = "BINARY") -> None:
    """A SEG made with highdicom from `sources`: `masks` holds segment numbers (1 = labels[0]...), 0 elsewhere."""
    descriptions = [highdicom.seg.SegmentDescription(
        segment_number=number, segment_label=label,
        segmented_property_category=CodedConcept("91723000", "SCT", "Anatomical Structure"),
        segmented_property_type=CodedConcept("10200004", "SCT", "Liver"),
        algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL) for number, label in enumerate(labels, 1)]
    seg = highdicom.seg.Segmentation(
        source_images=sources, pixel_array=masks, segmentation_type=segmentation_type,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(), series_number=5, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="test", manufacturer_model_name="test", software_versions="1", device_serial_number="1")
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)


def circle_points(z: float, points: int = 48) -> list[float]:
    """The contour circle (`CIRCLE`) at height z as flat patient coordinates in mm."""
    column, row, radius = CIRCLE
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    xs = ORIGIN[0] + PIXEL_MM * (column + radius * np.cos(angles))
    ys = ORIGIN[1] + PIXEL_MM * (row + radius * np.sin(angles))
    return [float(value) for point in zip(xs, ys, [z] * points) for value in point]


def write_rtstruct(path: Path, slices: list[pydicom.Dataset]) -> None:
    """A structure set: ROI "Tumour" with a circle on two slices (one contour names its image, one does not) and
    an isocentre point ROI, which is no mask."""
    def item(**values) -> Dataset:
        element = Dataset()
        for keyword, value in values.items():
            setattr(element, keyword, value)
        return element

    def image_ref(dataset: pydicom.Dataset) -> Dataset:
        return item(ReferencedSOPClassUID=dataset.SOPClassUID, ReferencedSOPInstanceUID=dataset.SOPInstanceUID)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = RTStructureSetStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    rt = Dataset()
    rt.file_meta = meta
    rt.SOPClassUID, rt.SOPInstanceUID = RTStructureSetStorage, meta.MediaStorageSOPInstanceUID
    for keyword, value in SECRET_TAGS.items():
        setattr(rt, keyword, value)
    rt.Modality, rt.StructureSetLabel = "RTSTRUCT", "plan"
    rt.StudyInstanceUID, rt.SeriesInstanceUID = slices[0].StudyInstanceUID, generate_uid()
    rt.ReferencedFrameOfReferenceSequence = Sequence([item(
        FrameOfReferenceUID=FRAME_OF_REFERENCE, RTReferencedStudySequence=Sequence([item(
            ReferencedSOPInstanceUID=slices[0].StudyInstanceUID, RTReferencedSeriesSequence=Sequence([item(
                SeriesInstanceUID=slices[0].SeriesInstanceUID,
                ContourImageSequence=Sequence([image_ref(dataset) for dataset in slices]))]))]))])
    rt.StructureSetROISequence = Sequence([
        item(ROINumber=7, ROIName="Tumour", ReferencedFrameOfReferenceUID=FRAME_OF_REFERENCE),
        item(ROINumber=8, ROIName="Isocenter", ReferencedFrameOfReferenceUID=FRAME_OF_REFERENCE)])
    named, by_plane = slices[TUMOUR_NAMED], slices[TUMOUR_BY_PLANE]
    rt.ROIContourSequence = Sequence([
        item(ReferencedROINumber=7, ContourSequence=Sequence([
            item(ContourGeometricType="CLOSED_PLANAR", NumberOfContourPoints=48,
                 ContourImageSequence=Sequence([image_ref(named)]),
                 ContourData=circle_points(float(named.ImagePositionPatient[2]))),
            item(ContourGeometricType="CLOSED_PLANAR", NumberOfContourPoints=48,
                 ContourData=circle_points(float(by_plane.ImagePositionPatient[2])))])),
        item(ReferencedROINumber=8, ContourSequence=Sequence([
            item(ContourGeometricType="POINT", NumberOfContourPoints=1, ContourData=[0.0, 0.0, -30.0])]))])
    path.parent.mkdir(parents=True, exist_ok=True)
    rt.save_as(path, enforce_file_format=True)


@pytest.fixture()
def annotated(tmp_path) -> tuple[Path, list[pydicom.Dataset]]:
    """A folder: the CT series, a SEG and an RTSTRUCT of it, and CT_small.dcm (another patient, no masks)."""
    folder = tmp_path / "study"
    slices = ct_series(folder / "ct")
    write_seg(folder / "seg" / "liver.dcm", slices, liver_masks())
    write_rtstruct(folder / "rt" / "structures.dcm", slices)
    copy_dicom("CT_small.dcm", folder / "other" / "CT_small.dcm")
    return folder, slices


def by_file(report, slices: list[pydicom.Dataset], folder: Path):
    """The scanned record of each slice, in z order."""
    uid_to_path = {pydicom.dcmread(folder / record.path, stop_before_pixels=True).SOPInstanceUID: record
                   for record in report.images}
    return [uid_to_path[dataset.SOPInstanceUID] for dataset in slices]


def test_the_scan_trains_on_the_ct_images_only_and_offers_seg_and_rtstruct_as_masks(annotated):
    folder, slices = annotated
    report = scan_folder(folder, DataConfig(root=str(folder))).report

    assert sorted(record.path for record in report.images) == sorted(
        [f"ct/slice_{index:02d}.dcm" for index in range(len(slices))] + ["other/CT_small.dcm"])
    reasons = {item.path: item.reason for item in report.skipped}
    assert reasons["seg/liver.dcm"] == f"segmentation of {len(slices)} images in this folder: offered as masks"
    assert reasons["rt/structures.dcm"] == (f"structure set (contours) on {len(slices)} images in this folder: "
                                            "offered as masks")
    records = by_file(report, slices, folder)
    assert [sorted(record.masks) for record in records] == [["Liver", "Tumour"]] * len(slices)
    assert next(record for record in report.images if record.path == "other/CT_small.dcm").masks == {}
    summary = report.to_json()
    assert summary["structures"] == {"Liver": len(LIVER_SLICES), "Tumour": 2}  # isocentre points are no mask
    assert not any(secret in json.dumps(summary) for secret in SECRET_TAGS.values())


def test_each_slice_gets_the_seg_mask_drawn_on_it_pixel_for_pixel(annotated):
    folder, slices = annotated
    report = scan_folder(folder, DataConfig(root=str(folder))).report
    drawn = liver_masks()

    for index, record in enumerate(by_file(report, slices, folder)):
        assert record.masks["Liver"].pixels == int(drawn[index].sum())
        liver = read_masks(folder, record).get("Liver")
        if drawn[index].any():
            np.testing.assert_array_equal(liver, drawn[index])
        else:
            assert liver is None


def test_a_label_map_seg_gives_each_segment_its_own_mask(tmp_path):
    folder = tmp_path / "labelmap"
    slices = ct_series(folder)
    labels = liver_masks().astype(np.uint8)
    labels[4, 0:3, 0:3] = 2
    write_seg(folder / "labels.dcm", slices, labels, ("Liver", "Spleen"), segmentation_type="LABELMAP")

    report = scan_folder(folder, DataConfig(root=str(folder))).report

    assert len(report.images) == len(slices)  # a label map holds pixels, yet it is no training image
    assert {item.path: item.reason for item in report.skipped}["labels.dcm"] == (
        f"segmentation of {len(slices)} images in this folder: offered as masks")
    for index, record in enumerate(by_file(report, slices, folder)):
        masks = read_masks(folder, record)
        for number, name in ((1, "Liver"), (2, "Spleen")):
            drawn = labels[index] == number
            assert record.masks[name].pixels == int(drawn.sum())
            assert np.array_equal(masks[name], drawn) if drawn.any() else name not in masks


def test_a_seg_of_a_multiframe_image_masks_each_frame(tmp_path):
    folder = tmp_path / "enhanced"
    folder.mkdir()
    write_multiframe_ct(folder / "ct.dcm", (0.0, 5.0, 10.0, 15.0))
    source = pydicom.dcmread(folder / "ct.dcm")
    with_study_attributes(source)
    source.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence = Sequence([Dataset()])
    source.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing = [1.0, 1.0]
    source.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SliceThickness = 5.0
    source.save_as(folder / "ct.dcm")
    drawn = np.zeros((4, 8, 8), dtype=bool)
    drawn[2, 1:4, 2:6] = True
    write_seg(folder / "seg.dcm", [source], drawn)

    report = scan_folder(folder, DataConfig(root=str(folder))).report

    assert {item.path: item.reason for item in report.skipped}["seg.dcm"] == (
        "segmentation of 4 images in this folder: offered as masks")
    for record in report.images:
        assert record.masks["Liver"].pixels == int(drawn[record.frame].sum())
        liver = read_masks(folder, record).get("Liver")
        assert (liver is None) if record.frame != 2 else np.array_equal(liver, drawn[2])


def test_rtstruct_contours_are_drawn_on_their_slices_within_a_pixel_border(annotated):
    folder, slices = annotated
    report = scan_folder(folder, DataConfig(root=str(folder))).report
    column, row, radius = CIRCLE
    rows, columns = np.mgrid[0:SIZE, 0:SIZE]
    distance = np.hypot(columns - column, rows - row)

    records = by_file(report, slices, folder)
    for index, record in enumerate(records):
        tumour = read_masks(folder, record).get("Tumour")
        if index not in (TUMOUR_NAMED, TUMOUR_BY_PLANE):
            assert tumour is None and record.masks["Tumour"].pixels == 0
            continue
        assert tumour.shape == (SIZE, SIZE) and record.masks["Tumour"].pixels == int(tumour.sum())
        assert tumour[distance < radius - 1].all() and not tumour[distance > radius + 1].any()
        assert abs(int(tumour.sum()) - np.pi * radius ** 2) <= 2 * np.pi * radius  # area within a pixel border


def test_a_reformat_in_the_same_frame_of_reference_is_not_annotated_by_axial_contours(annotated):
    from workbench.data.demo_ct import CORONAL, write_ct_slice

    folder, _ = annotated
    path = folder / "coronal" / "c.dcm"
    path.parent.mkdir()
    write_ct_slice(path, np.zeros((SIZE, SIZE)), SECRET_TAGS, "1.2.3.4", generate_uid(), position=(-10.0, 0.0, -10.0),
                   instance=1, orientation=CORONAL)
    with_study_attributes(pydicom.dcmread(path)).save_as(path)

    report = scan_folder(folder, DataConfig(root=str(folder))).report

    assert next(record for record in report.images if record.path == "coronal/c.dcm").masks == {}


def test_fill_polygon_keeps_the_pixels_whose_centres_are_inside():
    square = fill_polygon(np.array([1.5, 4.5, 4.5, 1.5]), np.array([0.5, 0.5, 3.5, 3.5]), (6, 6))

    expected = np.zeros((6, 6), dtype=bool)
    expected[1:4, 2:5] = True
    np.testing.assert_array_equal(square, expected)


def test_a_structure_is_a_yes_no_region_label_that_a_probe_can_use(annotated, tmp_path):
    folder, slices = annotated
    config = DataConfig(root=str(folder), mask_label="Liver", image_size=16, cache_dir=str(tmp_path / "cache"))

    report = scan_folder(folder, config).report
    labels = [record.label for record in by_file(report, slices, folder)]
    assert labels == ["Liver" if index in LIVER_SLICES else "no Liver" for index in range(len(slices))]
    assert next(record for record in report.images if record.path == "other/CT_small.dcm").label is None

    dataset = load_dataset(config)
    assert dataset.class_names == ["Liver", "no Liver"]
    assert dataset.labels.tolist().count(0) == len(LIVER_SLICES) and dataset.num_labelled == len(slices)
    features = torch.eye(len(dataset))  # each image its own direction: its nearest neighbour is itself
    scores = knn_probe(features, dataset.labels, features, dataset.labels, num_classes=2, k=1)
    assert scores.accuracy == 1.0 and scores.per_class_recall == [1.0, 1.0]  # the unlabelled CT_small left out


def test_an_unknown_structure_is_named_in_the_error(annotated):
    folder, _ = annotated
    with pytest.raises(ValueError, match=r"data.mask_label: .*named 'Lung'; the structures found are Liver, Tumour"):
        scan_folder(folder, DataConfig(root=str(folder), mask_label="Lung"))


def test_a_mask_label_replaces_the_labels_of_a_csv(annotated):
    folder, slices = annotated
    rows = "".join(f"ct/slice_{index:02d}.dcm,csv\n" for index in range(len(slices)))
    (folder / "labels.csv").write_text("path,label\nother/CT_small.dcm,csv\n" + rows)

    config = config_from_dict({"data": {"root": str(folder), "labels_csv": "labels.csv", "mask_label": "Liver"},
                               "tasks": {"simclr": {}}})
    report = scan_folder(folder, config.data).report

    assert report.labels == {"Liver": len(LIVER_SLICES), "no Liver": len(slices) - len(LIVER_SLICES)}


def test_a_seg_of_images_not_in_the_folder_stays_skipped(tmp_path):
    elsewhere = ct_series(tmp_path / "elsewhere")
    folder = tmp_path / "folder"
    copy_dicom("CT_small.dcm", folder / "CT_small.dcm")
    write_seg(folder / "seg.dcm", elsewhere, liver_masks())

    report = scan_folder(folder, DataConfig(root=str(folder))).report

    assert [record.path for record in report.images] == ["CT_small.dcm"] and report.images[0].masks == {}
    assert {item.path: item.reason for item in report.skipped}["seg.dcm"] == (
        "segmentation mask, not an image (the images it refers to are not in this folder)")


def test_the_preview_draws_the_mask_over_the_image_and_the_box_hides_it(qtbot, annotated):
    from workbench.gui.window_preview import WindowPreview

    folder, slices = annotated
    config = DataConfig(root=str(folder))
    report = scan_folder(folder, config).report
    record = by_file(report, slices, folder)[1]  # the first Liver slice
    preview = WindowPreview()
    qtbot.addWidget(preview)
    preview.resize(400, 500)
    preview.show()
    preview.set_windowable(True)
    preview.show_image(folder, record, config, report.images)
    qtbot.waitUntil(lambda: not preview.loading() and preview.view.masks_drawn(), timeout=10000)
    assert preview.masks_box.isVisible() and preview.masks_box.isChecked()

    view = preview.view
    target = view.image_rect()
    rows, columns = LIVER_SLICES[1]

    def colour_at(row: float, column: float):
        point = (target.left() + int((column + 0.5) * target.width() / SIZE),
                 target.top() + int((row + 0.5) * target.height() / SIZE))
        return view.grab().toImage().pixelColor(*point)

    inside, outside = (rows.start + 1, columns.start + 1), (12, 12)
    shown_inside, shown_outside = colour_at(*inside), colour_at(*outside)
    assert shown_inside.red() > shown_inside.blue() + 60  # tinted with the first structure colour (red)
    assert abs(shown_outside.red() - shown_outside.blue()) <= 2  # gray anatomy, no tint

    preview.masks_box.setChecked(False)
    hidden_inside = colour_at(*inside)
    assert not view.masks_drawn() and abs(hidden_inside.red() - hidden_inside.blue()) <= 2
    preview.shutdown()


def test_a_slice_without_the_structure_shows_no_overlay_and_no_box(qtbot, annotated):
    from workbench.gui.window_preview import WindowPreview

    folder, slices = annotated
    config = DataConfig(root=str(folder))
    report = scan_folder(folder, config).report
    preview = WindowPreview()
    qtbot.addWidget(preview)
    preview.show()
    preview.show_image(folder, by_file(report, slices, folder)[0], config, report.images)
    qtbot.waitUntil(lambda: not preview.loading() and not preview.view.image().isNull(), timeout=10000)

    assert not preview.view.masks_drawn() and not preview.masks_box.isVisible()
    preview.shutdown()


def test_the_dataset_page_names_the_structures_and_previews_a_slice_with_its_mask(qtbot, monkeypatch, tmp_path,
                                                                                 annotated):
    from gui_helpers import use_private_settings
    from workbench.gui.panels.dataset import DatasetPanel

    folder, slices = annotated
    use_private_settings(monkeypatch, tmp_path)
    panel = DatasetPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    with qtbot.waitSignal(panel.scanned, timeout=30000):
        panel.open_folder(str(folder))
    qtbot.waitUntil(lambda: not panel.scanning(), timeout=5000)

    assert "Masks: Liver (2 images), Tumour (2 images)" in panel.summary_label.text()
    records = panel.scan_result.report.images
    panel.preview_image(records.index(by_file(panel.scan_result.report, slices, folder)[TUMOUR_NAMED]))
    qtbot.waitUntil(lambda: not panel.preview.loading() and panel.preview.view.masks_drawn(), timeout=10000)
    assert panel.preview.masks_box.isVisible()

    editor = panel.reading_form.editor("mask_label")
    editor.setText("Liver")
    with qtbot.waitSignal(panel.scanned, timeout=30000):  # a new label source: the folder is scanned again
        editor.editingFinished.emit()
    qtbot.waitUntil(lambda: not panel.scanning(), timeout=5000)
    classes = {panel.class_table.item(row, 0).text(): panel.class_table.item(row, 1).text()
               for row in range(panel.class_table.rowCount())}
    assert classes == {"Liver": "2", "no Liver": str(len(slices) - 2)}
    panel.shutdown()


def test_a_damaged_seg_stays_skipped_saying_why_without_its_uids(annotated):
    folder, slices = annotated
    seg = folder / "seg" / "liver.dcm"
    data = seg.read_bytes()
    seg.write_bytes(data[:len(data) - 40])  # the pixel data cut short

    report = scan_folder(folder, DataConfig(root=str(folder))).report

    reason = {item.path: item.reason for item in report.skipped}["seg/liver.dcm"]
    assert reason.startswith("segmentation mask, not an image; not usable as masks (")
    assert not any(dataset.SOPInstanceUID in reason or dataset.SeriesInstanceUID in reason for dataset in slices)
    assert all("Liver" not in record.masks for record in report.images)
