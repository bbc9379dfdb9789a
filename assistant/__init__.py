"""Meeting-assistant routing workbench: the library behind the Streamlit pages and the CLI."""

__version__ = "0.1.0"
