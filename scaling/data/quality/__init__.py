"""Data quality: deduplication, heuristic document filters, language identification, corruption, and reports.

    docs = [Doc(text) for text in texts]
    result = run_pipeline(docs, build_steps(["exact_dedup", "near_dedup", "gopher"]))
    result.kept; result.report.to_dict()     # per step: how many removed, why, with examples

`corrupt_documents` plants defects at exact rates so a sweep varies quality knowingly, and the report says how
many planted documents each step caught (`recovery`) and how many clean ones it removed (`false_removals`).
"""

from scaling.data.quality.corrupt import CORRUPTIONS, corrupt_documents
from scaling.data.quality.doc import Doc
from scaling.data.quality.pipeline import PipelineResult, QualityReport, StepReport, run_pipeline
from scaling.data.quality.steps import FILTER_PRESETS, STEPS, Step, build_steps

__all__ = [
    "CORRUPTIONS",
    "FILTER_PRESETS",
    "STEPS",
    "Doc",
    "PipelineResult",
    "QualityReport",
    "Step",
    "StepReport",
    "build_steps",
    "corrupt_documents",
    "run_pipeline",
]
