"""The curation layer: everything the app and the CLI do with a project, as Qt-free jobs.

Why: analysing images, storing their proposals, clustering the dataset, training / predicting with a
method and exporting used to be written once in the app and once in the CLI, and drifted (cluster
count rules, which sources are kept). Both now call these functions, which are plain
``fn(ctx: JobContext, ...)`` jobs; the app only schedules them and shows their (compact) results.
Layering: this package sits above ``engine.pipeline`` / ``engine.methods`` / ``engine.export`` and
below ``engine.evaluation`` and ``engine.cli``.
"""

from .analysis import (OVERLAY_MAX_SIDE, AnalysisDone, AnalysisFailed, AnalysisOverlays, AnalyzerHolder,
                       BatchDone, analyze_batch, analyze_image, cluster_all, store_proposals)
from .export import ExportFormat, ExportRequest, export_formats, run_export
from .settings import CurationSettings
from .training import (PredictDone, PredictionItem, image_tag_names, predict_into_store, prediction_items,
                       run_training, training_set)

__all__ = ["OVERLAY_MAX_SIDE", "AnalysisDone", "AnalysisFailed", "AnalysisOverlays", "AnalyzerHolder", "BatchDone",
           "CurationSettings", "ExportFormat", "ExportRequest", "PredictDone", "PredictionItem", "analyze_batch",
           "analyze_image", "cluster_all", "export_formats", "image_tag_names", "predict_into_store",
           "prediction_items", "run_export", "run_training", "store_proposals", "training_set"]
