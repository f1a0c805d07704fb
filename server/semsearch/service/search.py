"""semsearch.v1.SearchService: translate requests, run the searcher, translate the result."""

from __future__ import annotations

import time
from typing import Any

import grpc

from semsearch.api.v1 import search_pb2, search_pb2_grpc
from semsearch.observability import NO_METRICS, Metrics, SearchOutcome
from semsearch.search.query import validate_query
from semsearch.search.searcher import Searcher, outcome_of
from semsearch.service import convert
from semsearch.service.errors import unary_errors


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, searcher: Searcher, metrics: Metrics = NO_METRICS) -> None:
        self.searcher = searcher
        self.metrics = metrics

    @unary_errors
    async def Search(
        self, request: search_pb2.SearchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> search_pb2.SearchResponse:
        started = time.perf_counter()
        outcome: SearchOutcome = "error"
        try:
            query = validate_query(
                text=request.query,
                indexes=list(request.indexes),
                top_k=request.top_k,
                min_score=request.min_score if request.HasField("min_score") else None,
                metadata_filter=dict(request.filter),
                all_chunks=request.all_chunks,
                mode=convert.requested_mode(request.mode),
                allow_degraded=request.allow_degraded,
            )
            result = await self.searcher.search(query)
            response = convert.search_response(result)
            outcome = "partial" if result.unavailable or result.degraded else "ok"
            return response
        except BaseException as exc:  # cancellations too: the call is counted however it ends
            outcome = outcome_of(exc)
            raise
        finally:
            self.metrics.search_finished(outcome, time.perf_counter() - started)
