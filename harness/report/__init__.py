"""Run reports: the data a run leaves behind, plots, the HTML page, JUnit XML, comparisons."""
