"""The intermediate representation: an immutable graph of single-assignment nodes."""

from gradgen.ir.builder import GraphBuilder
from gradgen.ir.check import check_graph
from gradgen.ir.graph import ConstArray, Graph, Node

__all__ = ["ConstArray", "Graph", "GraphBuilder", "Node", "check_graph"]
