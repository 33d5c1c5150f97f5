"""The version of gradgen, shared by the package, the code generators and the build cache key."""

__version__ = "0.1.0"
