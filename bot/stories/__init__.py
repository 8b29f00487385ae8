"""This module contains the story engine: grouping reports of one event across sources and languages.

Use `StoryGrouper(StoryConfig(window=...), E5Embedder()).add(StoryPost(...))` for each post some
room receives, in date order; the returned `Assignment.story` is the key of the story's first
post (the post's own key when it starts one).
"""

from bot.stories.embedding import CachedEmbedder, E5Embedder, Embedder, USEEmbedder
from bot.stories.features import Features, features
from bot.stories.grouper import Assignment, StoryConfig, StoryGrouper, StoryPost

__all__ = [
    "Assignment",
    "CachedEmbedder",
    "E5Embedder",
    "Embedder",
    "Features",
    "StoryConfig",
    "StoryGrouper",
    "StoryPost",
    "USEEmbedder",
    "features",
]
