"""Evaluation: dataset readers, VOC all-point mAP, FlickrLogos image-level metrics, reports.

The core is plain functions over ``Sample`` lists and ``Detections``; it never imports the pipeline. The
``osld evaluate`` commands live in ``osld.eval.cli`` (imported on demand, it needs typer).
"""

from osld.eval.datasets import NO_LOGO, Sample, read_coco, read_yolo_dataset
from osld.eval.flickrlogos import flickrlogos32_train_crops, read_flickrlogos27, read_flickrlogos32
from osld.eval.metrics import (
    AP_METHOD,
    average_precision,
    box_iou,
    evaluate,
    evaluate_detections,
    image_level_metrics,
    match_detections,
    normalize_brand,
    predicted_image_label,
)
from osld.eval.report import format_summary, write_json, write_report
from osld.eval.runner import Predictor, pipeline_predictor, predict_samples

__all__ = [
    "AP_METHOD",
    "NO_LOGO",
    "Predictor",
    "Sample",
    "average_precision",
    "box_iou",
    "evaluate",
    "evaluate_detections",
    "flickrlogos32_train_crops",
    "format_summary",
    "image_level_metrics",
    "match_detections",
    "normalize_brand",
    "pipeline_predictor",
    "predict_samples",
    "predicted_image_label",
    "read_coco",
    "read_flickrlogos27",
    "read_flickrlogos32",
    "read_yolo_dataset",
    "write_json",
    "write_report",
]
