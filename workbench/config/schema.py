"""The configuration tree: typed dataclasses with defaults that work, help text and bounds.

A run is fully described by one `RunConfig`; it is saved as the run folder's config.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from workbench.config.fields import setting
from workbench.config.window_presets import WINDOW_PRESETS, describe_presets


@dataclass
class DataConfig:
    """Where the images are and how they are read."""

    root: str = setting("", "Folder of images (searched recursively). Empty: the built-in demo dataset.",
                        label="Dataset folder", path="folder")
    labels_csv: str = setting("", "Optional CSV of `path,label` rows (paths relative to the folder). "
                                  "Empty: class sub-folders are the labels, if there are several.",
                              label="Labels CSV", path="file")
    mask_label: str = setting("", "Region label from DICOM masks: the name of a structure (a SEG segment or an "
                                  "RTSTRUCT ROI) in the folder. Each image it annotates is labelled \"<name>\" or "
                                  "\"no <name>\" (whether the slice contains it), for the probes, instead of the "
                                  "labels CSV's or the class folders' labels. Empty: off.",
                              label="Mask label (structure)")
    image_size: int = setting(64, "Images are resized to this square size (pixels) once, when cached.",
                              min=16, max=1024)
    resample_spacing_mm: float = setting(0.0, "DICOM and NIfTI: resample in-plane to this pixel spacing (mm) "
                                              "before the square resize, so scans of different spacings show "
                                              "anatomy at one scale: each image then shows the central image size "
                                              "x this mm, black beyond the scan (e.g. 64 px x 5 mm = 320 mm). "
                                              "0 = off: each image's central square is resized.",
                                         min=0.0, max=100.0, label="Resample spacing (mm)")
    channels: int = setting(0, "Channels fed to the encoder: 1 (grayscale), 3 (colour), 0 = decide from the data.",
                            choices=(0, 1, 3))
    dicom_window: str = setting("file", "Intensity window for DICOM and NIfTI: the file's own (VOI LUT or "
                                        "WindowCenter/Width), the manual values below, automatic (1st-99th "
                                        f"percentile), or a CT preset in HU: {describe_presets()} (width/level).",
                                choices=("file", "manual", "auto", *WINDOW_PRESETS), label="Window")
    window_center: float = setting(40.0, "Manual DICOM window level, in the file's units (HU for CT).",
                                   min=-100000.0, max=100000.0, label="Window level")
    window_width: float = setting(400.0, "Manual DICOM window width, in the file's units (HU for CT).",
                                  min=1e-3, max=200000.0, label="Window width")
    cache_ram_mb: int = setting(2048, "Decoded images larger than this many MB are memory-mapped on disk.",
                                min=16, max=1_000_000, label="Cache RAM budget (MB)", advanced=True)
    cache_dir: str = setting("", "Where decoded images are cached. Empty: ~/.cache/pretext-workbench.",
                             advanced=True, path="folder")
    max_images: int = setting(0, "Use at most this many images (0 = all). Handy for quick trials.",
                              min=0, max=100_000_000)
    slices_per_volume: int = setting(0, "Volumes (CT/MR series, NIfTI): use at most this many slices of each, "
                                        "evenly spaced, so large scans do not dominate (0 = all).",
                                     min=0, max=100_000, label="Slices per volume")
    min_foreground: float = setting(0.0, "Volumes: leave out slices whose foreground (HU above -500 for CT, "
                                         "else windowed intensity above 10%) is below this share (0 = keep all).",
                                    min=0.0, max=1.0, label="Minimum foreground")
    context_slices: int = setting(0, "2.5-D input: each slice with this many neighbours on each side as "
                                     "channels (1 + 2 x this, gray). Needs channels 0, or 3 with 1 neighbour.",
                                  min=0, max=8, label="Context slices (2.5-D)")
    sequences: str = setting("none", "Image sequences among plain images: folders = the images in each folder "
                                     "are the frames of one sequence (a video, an exported slice stack), in "
                                     "file-name order with numbers compared as numbers (frame_2 before "
                                     "frame_10). Volumes (DICOM series, NIfTI) are always sequences, in slice "
                                     "order. Used by frame order, and to keep frames of one sequence from being "
                                     "each other's negatives.", choices=("none", "folders"),
                             label="Image sequences")
    nifti_volumes: str = setting("first", "4-D NIfTI files (fMRI, diffusion): first = read only the first volume; "
                                          "all = read every volume, each as a volume of its own (its own 2.5-D "
                                          "context and sequence). All volumes of one file stay on the same side "
                                          "of a held-out split.", choices=("first", "all"),
                                 label="4-D NIfTI volumes")


@dataclass
class AugmentConfig:
    """Random transforms that make the views a pretext task compares. Applied per sample, on the device."""

    crop_scale_min: float = setting(0.25, "Smallest random crop, as a fraction of the image area.", min=0.01, max=1.0)
    crop_scale_max: float = setting(1.0, "Largest random crop, as a fraction of the image area.", min=0.01, max=1.0)
    hflip_p: float = setting(0.5, "Probability of a horizontal flip.", min=0.0, max=1.0, label="Horizontal flip")
    vflip_p: float = setting(0.0, "Probability of a vertical flip.", min=0.0, max=1.0, label="Vertical flip")
    rotation_degrees: float = setting(0.0, "Random rotation up to ± this many degrees.", min=0.0, max=180.0)
    brightness: float = setting(0.4, "Random brightness change up to ± this fraction.", min=0.0, max=1.0)
    contrast: float = setting(0.4, "Random contrast change up to ± this fraction.", min=0.0, max=1.0)
    saturation: float = setting(0.4, "Random saturation change (colour images only).", min=0.0, max=1.0)
    hue: float = setting(0.1, "Random hue shift (colour images only).", min=0.0, max=0.5)
    color_jitter_p: float = setting(0.8, "Probability of applying brightness/contrast/colour jitter.",
                                    min=0.0, max=1.0, label="Jitter probability")
    grayscale_p: float = setting(0.2, "Probability of turning a colour image gray (colour images only).",
                                 min=0.0, max=1.0, label="Grayscale probability")
    blur_p: float = setting(0.5, "Probability of a Gaussian blur.", min=0.0, max=1.0, label="Blur probability")
    blur_sigma_max: float = setting(1.5, "Largest blur sigma, in pixels of the training image.", min=0.1, max=10.0)
    solarize_p: float = setting(0.0, "Probability of solarizing (inverting the bright values).",
                                min=0.0, max=1.0, label="Solarize probability")
    mask_p: float = setting(0.0, "Probability of masking out a random rectangle (cut-out).",
                            min=0.0, max=1.0, label="Cut-out probability")


_backbone_names: list[Callable[[], Sequence[str]]] = []


def use_backbone_registry(names: Callable[[], Sequence[str]]) -> None:
    """Called by `workbench.models` when imported: `names()` lists the registered backbones, the choices of
    `model.backbone` (config, the lowest layer, may not import models)."""
    _backbone_names[:] = [names]


def backbone_choices() -> Sequence[str]:
    """The registered backbones' names (a `Choices` that also admits "timm/<name>", which the registry then
    checks); empty until `workbench.models` is imported."""
    return _backbone_names[0]() if _backbone_names else ()


@dataclass
class ModelConfig:
    """The encoder being pretrained."""

    backbone: str = setting("small_cnn", "Encoder architecture: a built-in or any installed timm model as "
                                         "timm/<name> (type to search). small_cnn is fast enough for a CPU demo.",
                            choices=backbone_choices)
    small_image_stem: bool = setting(True, "ResNets: a 3x3 stem without max-pool, for images of 32-96 px.")
    patch_size: int = setting(8, "ViTs: size of the square patches, in pixels.", min=2, max=64)
    pooling: str = setting("auto", "ViTs: the embedding is the class token (cls) or the mean of the patch tokens "
                                   "(mean_patches). auto: mean_patches when every task is a masked-modelling "
                                   "task (MAE, SimMIM...), which never trains the class token; else cls.",
                           choices=("auto", "cls", "mean_patches"), advanced=True, label="Pooling (ViTs)")
    init_weights: str = setting("", "Pretrained weights to start from (empty: random). A .safetensors, .pt or "
                                    ".pth file, or a folder (Hugging Face layout, or an export of an earlier "
                                    "run); timm, torchvision and DINOv2 checkpoints are matched to the backbone, "
                                    "other channel counts and image sizes adapted. Nothing is downloaded.",
                                label="Starting weights", path="weights")


@dataclass
class TaskConfig:
    """Settings every pretext task has; each task's Config subclasses this."""

    weight: float = setting(1.0, "Weight of this task's loss when several tasks train together.",
                            min=0.0, max=100.0)


DEVICES = ("auto", "cuda", "mps", "cpu")
"""Where to train (`TrainConfig.device`) or to probe and export (the command line's --device)."""


@dataclass
class TrainConfig:
    """The optimisation loop."""

    steps: int = setting(400, "Number of optimisation steps.", min=1, max=100_000_000)
    batch_size: int = setting(128, "Images per step (per process).", min=2, max=65536)
    optimizer: str = setting("adamw", "Optimiser.", choices=("adamw", "sgd"))
    lr: float = setting(2e-3, "Peak learning rate, reached after the warm-up.", min=1e-7, max=10.0,
                        label="Learning rate")
    weight_decay: float = setting(1e-4, "Weight decay.", min=0.0, max=1.0)
    momentum: float = setting(0.9, "SGD momentum.", min=0.0, max=0.999, advanced=True)
    warmup_steps: int = setting(20, "Steps of linear warm-up before the cosine decay.", min=0,
                                max=100_000_000)
    grad_clip: float = setting(3.0, "Clip the gradient norm to this value (0 = no clipping).", min=0.0,
                               max=1e6, label="Gradient clip")
    freeze_stages: int = setting(0, "Continued pretraining: the encoder's first N stages keep their starting "
                                    "weights. Counted from the input: 1 = the stem (a ViT's patch embedding), 2 = "
                                    "also the first stage (a ResNet's layer1, a ViT's first block), and so on; their "
                                    "BatchNorm statistics stay fixed too. 0 = train everything.",
                                 min=0, max=1000, advanced=True, label="Frozen stages")
    layer_lr_decay: float = setting(1.0, "Continued pretraining: stages near the input learn slower. Layer-wise "
                                         "learning-rate decay as in BEiT/MAE fine-tuning: stage i of an encoder of D "
                                         "stages learns at lr x this^(D - i), the tasks' heads at lr. 1.0 = off; "
                                         "0.65-0.85 is usual.",
                                    min=0.1, max=1.0, advanced=True, label="Layer-wise lr decay")
    precision: str = setting("auto", "auto: bf16 autocast where the device supports it, else fp32.",
                             choices=("auto", "fp32", "bf16"))
    device: str = setting("auto", "auto: CUDA, then MPS, then CPU.", choices=DEVICES)
    seed: int = setting(0, "Random seed: the same seed and config give the same run (on the CPU).",
                        min=0, max=2**31 - 1)
    checkpoint_every: int = setting(200, "Save a checkpoint every this many steps (and at the end).",
                                    min=1, max=100_000_000)
    log_every: int = setting(5, "Record loss and speed every this many steps.", min=1, max=100_000)
    threads: int = setting(0, "CPU threads for torch (0 = all cores but one, so that the app and other "
                                 "programs never stall training).", min=0, max=1024, advanced=True)
    prefetch: str = setting("auto", "Draw the next step's augmented views on a background thread while the "
                                    "model trains (auto: on a CPU with a core that torch leaves free). The "
                                    "views are the same either way.", choices=("auto", "on", "off"),
                            advanced=True, label="Prefetch views")
    channels_last: str = setting("auto", "Hold convolutional networks channels-last, the layout fast "
                                         "convolution kernels want (auto: on CUDA and on CPUs with oneDNN). "
                                         "Same results up to rounding.", choices=("auto", "on", "off"),
                                 advanced=True, label="Channels-last layout")
    compile: bool = setting(False, "Compile the encoder with torch.compile, mainly for GPUs. The first steps "
                                   "wait while it compiles; on a CPU it needs a C++ compiler.",
                            advanced=True, label="Compile (torch.compile)")


@dataclass
class EvalConfig:
    """Cheap health checks during training, on a fixed subsample."""

    every_steps: int = setting(50, "Evaluate every this many steps (and at the end).", min=1,
                               max=100_000_000, label="Evaluate every (steps)")
    subset_size: int = setting(512, "Images used for evaluation (a fixed random subset).", min=8,
                               max=1_000_000)
    knn_k: int = setting(10, "Neighbours in the kNN probe.", min=1, max=1000, label="kNN k")
    knn_test_fraction: float = setting(0.3, "Share of the evaluation subset held out for the kNN probe.",
                                       min=0.05, max=0.9, label="kNN test fraction")
    map_method: str = setting("pca", "How the embedding map is flattened to 2-D: pca is always available, fast and "
                                      "keeps large distances; tsne and umap show neighbourhoods (clusters) more "
                                      "clearly but take seconds per evaluation and need the optional packages: "
                                      "pip install 'pretext-workbench[maps]'.",
                              choices=("pca", "tsne", "umap"), label="Map projection")


DEFAULT_RUNS_FOLDER = "runs"
"""Where run folders go by default (`OutputConfig.out_dir`; an empty one is refused)."""


@dataclass
class OutputConfig:
    """Where the run folder goes, and the other logs a run writes."""

    out_dir: str = setting(DEFAULT_RUNS_FOLDER, "Folder holding run folders.", label="Runs folder", path="folder")
    name: str = setting("", "Run folder name. Empty: task names and a time stamp.", label="Run name")
    tensorboard: bool = setting(False, "Also write TensorBoard logs, in the run folder's tensorboard/ folder. "
                                       "They hold the curves of metrics.jsonl and the embedding map (projector); "
                                       "view them with `tensorboard --logdir <runs folder>`.",
                                label="TensorBoard logs")
    mlflow: bool = setting(False, "Also log to MLflow (needs mlflow, sqlalchemy and alembic: "
                                  "pip install 'pretext-workbench[logs]'). Settings, curves, config.yaml and "
                                  "metrics.jsonl go to the server in MLFLOW_TRACKING_URI, else to a SQLite store in "
                                  "<runs folder>/mlruns.",
                           label="MLflow logs")

def _default_tasks() -> dict[str, TaskConfig]:
    return {}


@dataclass
class RunConfig:
    """Everything that defines a run; saved as the run folder's config.yaml."""

    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tasks: dict[str, TaskConfig] = field(default_factory=_default_tasks)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
