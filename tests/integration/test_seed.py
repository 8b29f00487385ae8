"""Seeding from the config file against what moderators did in chat."""

from bot.bootstrap import seed
from bot.model import Room, Subscription
from bot.settings import parse_settings
from bot.storage.sqlite import SQLiteStore

CONFIG = """
rooms:
  - id: desk
    platform: telegram
    chat: -100500
    language: de
    subscriptions:
      - {id: s1, query: 'entity:kursk'}
"""


def test_a_chat_room_made_in_chat_is_adopted_by_the_config(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    store.upsert_room(Room("telegram-100500", "telegram", "-100500", None, "en"))
    store.add_subscription(Subscription("s1", "telegram-100500", "entity:putin", created_by="m"))
    store.add_keyword("telegram-100500", "casualties", ["потери"])
    seed(store, parse_settings(CONFIG))
    assert [r.id for r in store.rooms()] == ["desk"]
    assert store.find_room("telegram", "-100500").id == "desk"
    # the moderator's s1 is kept; the file's s1 does not overwrite it
    [sub] = store.subscriptions("desk")
    assert (sub.query, sub.created_by) == ("entity:putin", "m")
    assert store.keywords("desk")[0].variants == ("потери",)
    store.close()


def test_seeding_twice_changes_nothing_a_moderator_did(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    settings = parse_settings(CONFIG)
    seed(store, settings)
    store.remove_subscription("desk", "s1")
    store.set_room_language("desk", "uk")
    seed(store, settings)  # a restart
    assert store.subscriptions("desk") == []
    assert store.get_room("desk").language == "uk"
    store.close()
