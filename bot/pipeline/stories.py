"""This module contains the pipeline's story stage: alerts follow stories.

Every post some room receives is put into a story by the process's one `StoryGrouper` (only
those: the cost follows what alerts, not the firehose). The first post of a story that reaches
a room alerts it; a later post of the same story does not alert that room again but is added
to the alert already made ("+N sources", with its name and link): a queued alert goes out with
it, a sent one is flagged for an edit in place through the outbox, coalesced to one edit per
`edit_interval`. The post -> story links (and the embeddings grouping made) are kept in the
store, so a restarted process is re-fed the last window and keeps its stories.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np

from bot.model import Analysis, Post, SourceRef, utcnow
from bot.ports import Store, StoryLink, StoryRoom
from bot.render import post_link
from bot.stories import Assignment, StoryGrouper, StoryPost

log = logging.getLogger(__name__)

_VECTOR = np.float32


class Stories:
    """The story stage of one pipeline; see the module docstring."""

    def __init__(self, grouper: StoryGrouper, *, edit_interval: float = 30.0) -> None:
        self.grouper = grouper
        self.edit_interval = edit_interval

    @property
    def blocking(self) -> bool:
        """True when placing a post may run the sentence model (tens of ms)."""
        return self.grouper.embedder is not None

    def assign(self, post: Post, analysis: Analysis) -> Assignment:
        """The story of a post some room receives. Pure and store-free, so the caller runs it
        outside its transaction; a post seen before keeps its story (an edit never moves it)."""
        return self.grouper.add(StoryPost(post.key, post.date, post.source_id, post.text,
                                          analysis.lang, frozenset(analysis.entity_ids)))

    def record(self, store: Store, post: Post, analysis: Analysis, story: Assignment) -> None:
        """Keep the post -> story link and the vectors grouping made since the last post."""
        vectors = dict(self.grouper.take_vectors())
        mine = vectors.pop(post.key, None)
        store.link_story(StoryLink(post.key, story.story, post.date, post.source_id,
                                   analysis.lang, analysis.entity_ids,
                                   None if mine is None else _to_bytes(mine)))
        for key, vector in vectors.items():
            store.set_story_vector(key, _to_bytes(vector))

    def follows(self, store: Store, post: Post, story: Assignment, room_id: str,
                *, new_post: bool, enqueue: bool = True) -> bool:
        """True when `room_id` already has this story from an earlier post: then this post is
        added to that room's alert instead of alerting again. A story only replayed (no
        alert queued) does not count when this post is to be queued: the room never saw it."""
        held = store.story_room(story.story, room_id)
        if held is None or held.post_key == post.key:
            return False
        if held.alert_id is None and enqueue:
            return False
        if new_post and held.alert_id is not None:
            ref = SourceRef(post.source_id, post_link(post), post.key)
            if store.add_alert_source(held.alert_id, ref, delay=self.edit_interval):
                log.info("story %s: %s joins alert %s", story.story, post.key, held.alert_id)
        return True

    def claim(self, store: Store, story: Assignment, room_id: str, post: Post,
              alert_id: int | None) -> None:
        """Record that `post` brought this story to `room_id` (its alert, if queued)."""
        store.claim_story_room(StoryRoom(story.story, room_id, post.key, alert_id))

    def restore(self, store: Store, now: datetime | None = None) -> int:
        """Re-feed the grouper the grouped posts of the last window, in date order, with the
        vectors kept for them (the others are embedded again only if a new post needs them).
        Returns how many."""
        since = (now or utcnow()) - self.grouper.config.window
        count = 0
        for link, text in store.grouped_since(since):
            vector = None if link.vector is None else np.frombuffer(link.vector, dtype=_VECTOR)
            self.grouper.restore(StoryPost(link.post_key, link.date, link.source_id, text,
                                           link.lang, frozenset(link.entities)),
                                 link.story_id, vector)
            count += 1
        if count:
            log.info("stories: %d grouped posts of the last window restored", count)
        return count


def _to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=_VECTOR).tobytes()
