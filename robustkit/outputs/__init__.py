"""Outputs: reports (Markdown, CSV, JSON, HTML, PNG), the robustness gate and the pytest plugin."""
