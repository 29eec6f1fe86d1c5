"""S3 sink for wan-engine, registered as the ``s3`` entry point of ``wan_engine.sinks``."""

from wan_engine_s3.sink import S3Sink, S3Writer, provenance_metadata

__all__ = ["S3Sink", "S3Writer", "provenance_metadata"]
