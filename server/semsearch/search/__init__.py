"""Query-time search: validating a query, searching every index, fusing and pinning into one ranking.

``index/`` holds the data structures searched; this package decides what a query gets.
"""

from semsearch.search.query import SearchMode, SearchQuery, validate_query
from semsearch.search.searcher import Searcher, SearchResult, UnavailableIndex

__all__ = ["SearchMode", "SearchQuery", "SearchResult", "Searcher", "UnavailableIndex", "validate_query"]
