"""Reading a documentation page: literal request bodies, printed answers, the processing time."""

from __future__ import annotations

from wan_engine.spec.docs_page import read_page

PAGE = """
## Code Example
```python
import requests
data = {
    "model": "acme/video-1",
    "prompt": "A fox, {not a brace problem}",
    "duration": "5",
}
requests.post(url, json=data)
```
<details><summary>Response</summary>
```json5
{'generation_id': '1:acme/video-1', 'status': 'queued', 'meta': {'usage': {'credits_used': 5}}}
Status: queued. Checking again in 15 seconds.
Processing complete:
 {'id': '1:acme/video-1', 'status': 'completed', 'video': {'url': 'https://cdn.example/a.mp4'}, 'done': True}
```
</details>
**Processing time**: \\~ 1 min 38 sec.
"""


def test_bodies_answers_and_time_are_read_without_running_any_code() -> None:
    facts = read_page(PAGE)
    assert facts.request_bodies == [
        {"model": "acme/video-1", "prompt": "A fox, {not a brace problem}", "duration": "5"}
    ]
    assert [a.get("status") for a in facts.responses] == ["queued", "completed"]
    assert facts.responses[1]["done"] is True and facts.responses[0]["generation_id"] == "1:acme/video-1"
    assert facts.processing_s == 98.0


def test_a_page_without_examples_gives_nothing() -> None:
    facts = read_page("# Title\nNo code here. Processing time: unknown.")
    assert facts.request_bodies == [] and facts.responses == [] and facts.processing_s is None
