"""The DSL: symbolic values, input specs and tracing."""
