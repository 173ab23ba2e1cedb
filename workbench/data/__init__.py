"""Finding and reading images and volumes, labels, the scan report, the decoded cache, patient-level splits
and batched augmentations."""
from workbench.data.augment import BatchAugmenter
from workbench.data.cache import ImageDataset, load_dataset
from workbench.data.demo import dataset_folder, demo_dataset_dir
from workbench.data.demo_ct import demo_ct_dataset_dir
from workbench.data.readers import read_frames
from workbench.data.records import ImageRecord, SkippedFile
from workbench.data.scan import ScanReport, scan_folder
from workbench.data.splits import group_split
from workbench.data.unreadable import UnreadableImage
from workbench.data.windows import WINDOW_PRESETS

__all__ = ["load_dataset", "ImageDataset", "scan_folder", "ScanReport", "ImageRecord", "SkippedFile",
           "BatchAugmenter", "dataset_folder", "demo_dataset_dir", "demo_ct_dataset_dir", "read_frames", "UnreadableImage",
           "group_split", "WINDOW_PRESETS"]
