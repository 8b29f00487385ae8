"""This module contains the word-form benchmark: which lemmatiser or stemmer lets plain query
words match their inflected forms (issue 13, item 2).

Run: ``.venv/bin/python benchmarks/wordforms.py``

For each language, pairs (dictionary form, inflected form) that must match and pairs of
different words sharing a start (war/warning, курс/курск) that must not; all words folded as
post text is (`bot.text.fold`: lower case, Latin diacritics stripped), since that is what the
matcher sees. It scores what wirewatch uses (`bot.pipeline.wordforms`, Snowball via PyStemmer,
plus the ru/uk ending rule of the query language for Cyrillic) and, when they are installed,
simplemma and pymorphy3 (ru, uk), with their speed per word.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.pipeline.query import Doc, parse  # noqa: E402
from bot.pipeline.wordforms import word_forms  # noqa: E402
from bot.text import fold  # noqa: E402

# lang: (groups "lemma form form ...", "word other-word" pairs that must not match)
PAIRS = {
    "ru": ("война войны войне войной войн|потеря потери потерь потерями|гибель гибели|бой боя боях "
           "бои|село сел селе селах|пленный пленных пленные|обстрел обстрелы обстрелов обстрелом|"
           "удар ударов ударом удары|солдат солдаты солдатами|освободить освободили освободил|"
           "захватить захватили|направление направлении направлений|наступление наступления "
           "наступлении",
           "война воин|курс курск|бой бойня|удар ударник|село селфи|солдат солдатик"),
    "uk": ("війна війни війні війною|втрата втрати втрат втратами|бій бою боях бої|полонений "
           "полонених полонені|обстріл обстріли обстрілів|село сіл селі|звільнити звільнили звільнив|"
           "загибель загибелі|наступ наступу наступом|напрямок напрямку",
           "війна воїн|курс курськ|бій бійка|село селище"),
    "pl": ("wojna wojny wojnie wojen wojną|żołnierz żołnierze żołnierzy żołnierzami|strata straty "
           "strat stratach|jeniec jeńców jeńcy|wieś wsi wsią|atak ataku ataków atakach|walka walki "
           "walkach walk|ostrzał ostrzału ostrzałem|zająć zajęli zajął|wyzwolić wyzwolili",
           "wojna wojewoda|wieś wiesz|atak atakama|walka walizka"),
    "de": ("krieg kriege krieges kriegen|soldat soldaten|verlust verluste verlusten|gefangene "
           "gefangenen gefangener|angriff angriffe angriffen angriffs|dorf dörfer dorfes dörfern|"
           "kampf kämpfe kämpfen kampfes|stadt städte städten|einnahme einnahmen",
           "krieg kriegsschiff|dorf dorfmann|angriff angriffslustig|soldat soldatenfriedhof"),
    "fr": ("guerre guerres|soldat soldats|perte pertes|prisonnier prisonniers prisonnière|combat "
           "combats|frappe frappes frappé|village villages|attaque attaques attaqué|libérer libéré "
           "libérée libérés|ville villes",
           "guerre guerrier|soldat solde|combat combattant|ville villa"),
    "en": ("war wars|soldier soldiers|loss losses|prisoner prisoners|strike strikes struck|village "
           "villages|attack attacked attacks attacking|capture captured captures|kill killed killing|"
           "fight fighting fought",
           "war warning|war ward|loss lost|strike striker|village villager|capture capturing"),
}


def folded(word: str) -> str:
    return fold(word).words()[0]


def ours(lang: str, a: str, b: str) -> bool:
    """The real matcher: does the plain query word `a` find a post that says `b`?"""
    doc = Doc(words=[folded(b)])
    return parse(a).evaluate(doc)


def optional_methods() -> dict:
    methods = {}
    try:
        import simplemma

        def by_simplemma(lang: str, a: str, b: str) -> bool:
            return (simplemma.lemmatize(folded(a), lang=lang)
                    == simplemma.lemmatize(folded(b), lang=lang))

        methods["simplemma"] = (by_simplemma, tuple(PAIRS))
    except ImportError:
        print("simplemma not installed: skipped")
    try:
        import pymorphy3
        morph = {lang: pymorphy3.MorphAnalyzer(lang=lang) for lang in ("ru", "uk")}

        def by_pymorphy(lang: str, a: str, b: str) -> bool:
            def forms(w: str) -> set[str]:
                return {p.normal_form for p in morph[lang].parse(folded(w))}
            return bool(forms(a) & forms(b))

        methods["pymorphy3"] = (by_pymorphy, ("ru", "uk"))
    except (ImportError, ValueError):
        print("pymorphy3 (with ru and uk dictionaries) not installed: skipped")
    return methods


def score(name: str, fn, langs) -> None:
    for lang in langs:
        groups, negatives = PAIRS[lang]
        hits = total = false = 0
        missed = []
        for group in groups.split("|"):
            lemma, *forms = group.split()
            for form in forms:
                total += 1
                if fn(lang, lemma, form):
                    hits += 1
                else:
                    missed.append(form)
        pairs = negatives.split("|")
        for pair in pairs:
            a, b = pair.split()
            false += fn(lang, a, b)
        print(f"  {name:10s} {lang}  forms found {hits:2d}/{total:2d}  false friends "
              f"{false}/{len(pairs)}  missed: {' '.join(missed) or '-'}")


def speed() -> None:
    words = [folded(w) for w in ("войны потери боях втрати wojny żołnierzy kriege verluste "
                                 "guerres pertes soldiers losses").split()]
    forms = [word_forms(w) for w in ("война", "wojna", "krieg", "guerre", "soldier", "loss")]
    texts = [" " + " ".join(words[i:] + words[:i]) + " " for i in range(len(words))]
    n = 20000
    t0 = time.perf_counter()
    for i in range(n):
        forms[i % len(forms)].found_in(texts[i % len(texts)])  # type: ignore[union-attr]
    dt = time.perf_counter() - t0
    print(f"\n  wordforms.found_in on a 12-word text: {dt / n * 1e6:.2f} us per check (warm cache)")


def main() -> None:
    print("Word forms, folded words (what the matcher sees):")
    score("wirewatch", ours, tuple(PAIRS))
    for name, (fn, langs) in optional_methods().items():
        t0 = time.perf_counter()
        fn(langs[0], "война" if langs[0] == "ru" else "war", "войны")
        load = time.perf_counter() - t0
        score(name, fn, langs)
        print(f"  {name}: first call (loads data) {load:.2f} s")
    speed()


if __name__ == "__main__":
    main()
