"""Finding and reading images, labels, the scan report, the decoded cache and batched augmentations."""
from workbench.data.augment import BatchAugmenter
from workbench.data.cache import ImageDataset, load_dataset
from workbench.data.demo import demo_dataset_dir
from workbench.data.readers import UnreadableImage, read_frames
from workbench.data.scan import ImageRecord, ScanReport, SkippedFile, scan_folder

__all__ = ["load_dataset", "ImageDataset", "scan_folder", "ScanReport", "ImageRecord", "SkippedFile",
           "BatchAugmenter", "demo_dataset_dir", "read_frames", "UnreadableImage"]
