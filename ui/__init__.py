"""The Gradio chat UI (``rag chat``). Kept light: ``ui.app`` imports Gradio on first use."""
