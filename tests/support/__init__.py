"""Helpers shared by the test folders: sandbox engines, local servers, SeaweedFS, the crash harness."""
