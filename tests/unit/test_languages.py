"""Tests of the dependency-free language tables and of the import cycle they break."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bot import languages
from bot.pipeline.language import supported_languages

ROOT = Path(__file__).resolve().parents[2]


def imports_of(module: str) -> set[str]:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_table_of_detectable_languages_is_the_detectors():
    assert languages.DETECTABLE == supported_languages()


def test_languages_imports_nothing_of_wirewatch_and_breaks_the_cycle():
    assert not {m for m in imports_of("bot/languages.py") if m.split(".")[0] in ("bot", "handlers")}
    assert "bot.settings" not in imports_of("bot/pipeline/language.py")
    assert "bot.pipeline.language" not in imports_of("bot/settings.py")
    code = "import sys, bot.settings; assert 'bot.pipeline.language' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_candidates_are_normalised_or_refused_with_the_supported_list():
    assert languages.check_candidates(["RU", " uk ", "ru"]) == ("ru", "uk")
    with pytest.raises(ValueError, match=r"unsupported language code\(s\) 'xx', '7'"):
        languages.check_candidates(["ru", "xx", 7])
    with pytest.raises(ValueError, match="at least one"):
        languages.check_candidates([])


@pytest.mark.parametrize("code, hint", [("ua", "'uk', Ukrainian"), ("jp", "'ja', Japanese"),
                                        ("eng", "'en', English"), ("qq", None)])
def test_room_languages_are_translation_targets(code, hint):
    assert languages.check_target("uk") == "uk" and languages.check_target("ceb") == "ceb"
    with pytest.raises(ValueError) as err:
        languages.check_target(code)
    assert (f"did you mean {hint}?" in str(err.value)) == (hint is not None)
    assert languages.language_name("uk") == "Ukrainian" and languages.language_name("und") == "unknown"
