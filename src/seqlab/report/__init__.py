"""The HTML report of a run folder; reads Result JSON, never imports torch."""

from seqlab.report.html import REPORT_FILE, load_results, render, write_report

__all__ = ["REPORT_FILE", "load_results", "render", "write_report"]
