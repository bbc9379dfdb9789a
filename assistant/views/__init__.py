"""Views: everything the Streamlit pages call, one typed result shape with a typed error kind.

May import: anything below it; pages import only assistant.views."""
