"""Property tests of the query language and the subscription index (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import BadQuery
from bot.pipeline.matcher import Matcher
from bot.pipeline.query import (
    ENDINGS,
    EXACT,
    PREFIX,
    And,
    Doc,
    Field,
    Near,
    Node,
    Not,
    Or,
    Piece,
    Words,
    parse,
)
from bot.pipeline.wordforms import stem

OR_MANY = 6  # query.OR_AUTOMATON_MIN: an OR this big is checked by one automaton
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A small vocabulary so that generated queries and docs meet often: Latin, Cyrillic with case
# endings, Hangul with particles, digits.
QUERY_WORDS = ["kursk", "troops", "war", "north", "korea", "курская", "курск", "войска",
               "война", "россия", "нато", "мир", "쿠르스크", "북한군", "파병", "7", "a"]
DOC_WORDS = ["kursk", "troops", "troop", "war", "warning", "north", "korea", "korean",
             "курская", "курской", "курск", "курсант", "войска", "войсках", "война", "войны",
             "военный", "войсковой", "россия", "россии", "россиянин", "нато", "натой",
             "натовский", "мир", "мира", "쿠르스크에서",
             "쿠르스크", "북한군이", "파병", "7", "a", "b"]
ENTITIES = ["kursk", "russia", "north_korea"]
TOPICS = ["conflict", "sanctions"]
LANGS = ["ru", "uk", "ko", "en"]
SOURCES = ["gur", "tass"]


@st.composite
def terms(draw) -> str:
    kind = draw(st.sampled_from(["word", "word", "prefix", "phrase", "field", "caps"]))
    if kind == "word":
        return draw(st.sampled_from(QUERY_WORDS))
    if kind == "caps":
        return draw(st.sampled_from(QUERY_WORDS)).upper()
    if kind == "prefix":
        word = draw(st.sampled_from(QUERY_WORDS))
        return word[: draw(st.integers(1, len(word)))] + "*"
    if kind == "phrase":
        words = draw(st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=3))
        if draw(st.booleans()):
            words[-1] += "*"
        return '"' + " ".join(words) + '"'
    name = draw(st.sampled_from(["entity", "topic", "lang", "source"]))
    values = {"entity": ENTITIES, "topic": TOPICS, "lang": LANGS, "source": SOURCES}[name]
    return f"{name}:{draw(st.sampled_from(values))}"


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"{p[0]} AND {p[1]}"),
        pair.map(lambda p: f"{p[0]} OR {p[1]}"),
        pair.map(lambda p: f"{p[0]} {p[1]}"),
        children.map(lambda c: f"NOT {c}"),
        children.map(lambda c: f"-({c})"),
        children.map(lambda c: f"({c})"),
    )


near = st.builds(lambda a, n, b: f"{a} NEAR/{n} {b}",
                 terms().filter(lambda t: ":" not in t), st.integers(0, 4),
                 terms().filter(lambda t: ":" not in t))
queries = st.recursive(st.one_of(terms(), near), combine, max_leaves=8)

# Query-like noise: real tokens glued with random punctuation, for the parser's error paths.
noise = st.lists(
    st.one_of(st.sampled_from(["AND", "OR", "NOT", "NEAR/2", "NEAR/", "(", ")", '"', "-", "*",
                               ":", "entity:", "foo:", "«", "»", " ", "NEAR"]),
              terms(), st.text(max_size=3)),
    max_size=12,
).map("".join)


@st.composite
def docs(draw) -> Doc:
    lang = draw(st.one_of(st.none(), st.sampled_from(LANGS)))
    lazy = draw(st.booleans())
    return Doc(
        words=draw(st.lists(st.sampled_from(DOC_WORDS), max_size=12)),
        entities=frozenset(draw(st.sets(st.sampled_from(ENTITIES)))),
        topics=frozenset(draw(st.sets(st.sampled_from(TOPICS)))),
        source=draw(st.sampled_from(["", *SOURCES, "GUR"])),
        lang=(lambda v=lang: v) if lazy else lang,
    )


@FAST
@given(st.one_of(st.text(max_size=40), noise))
def test_any_input_parses_or_raises_bad_query_with_position_inside(text):
    try:
        parse(text)
    except BadQuery as exc:
        assert 0 <= exc.pos <= len(text)
        assert "expected" in str(exc)
        assert f"column {exc.pos + 1}" in str(exc)


@FAST
@given(queries)
def test_generated_queries_parse_and_round_trip(text):
    query = parse(text)
    again = parse(str(query))
    assert again == query
    assert str(again) == str(query)


@FAST
@given(st.one_of(st.text(max_size=30), noise))
def test_whatever_parses_round_trips(text):
    try:
        query = parse(text)
    except BadQuery:
        return
    assert parse(str(query)) == query


@FAST
@given(queries, docs())
def test_evaluation_never_raises_and_printing_keeps_meaning(text, doc):
    query = parse(text)
    result = query.evaluate(doc)
    assert isinstance(result, bool)
    assert parse(str(query)).evaluate(doc) == result


# A slow, obvious reading of the semantics, word by word, to check the substring tricks against.


def ref_piece(piece: Piece, word: str) -> bool:
    if piece.mode == EXACT:
        return word == piece.text
    if piece.mode == PREFIX:
        return word.startswith(piece.text)
    if piece.forms is not None:  # a lone plain word: itself, the ru/uk ending rule, or Snowball
        if word == piece.text:
            return True
        ending = piece.ending_stem
        if ending and word.startswith(ending) and word[len(ending):] in ENDINGS:
            return True
        return any(stem(lang, word) == stem(lang, piece.text) for lang, _ in piece.forms.stems)
    return word.startswith(piece.stem) and word[len(piece.stem):] in ENDINGS


def ref_spans(node: Words, words: list[str]) -> list[tuple[int, int]]:
    k = len(node.pieces)
    return [(i, i + k) for i in range(len(words) - k + 1)
            if all(ref_piece(p, words[i + j]) for j, p in enumerate(node.pieces))]


def ref_eval(node: Node, doc: Doc) -> bool:
    words = list(doc.words)
    if isinstance(node, Words):
        return bool(ref_spans(node, words))
    if isinstance(node, Field):
        if node.name == "entity":
            return node.value in doc.entities
        if node.name == "topic":
            return node.value in doc.topics
        if node.name == "source":
            return doc.source.lower() == node.value
        return doc.language() == node.value
    if isinstance(node, Not):
        return not ref_eval(node.child, doc)
    if isinstance(node, And):
        return all(ref_eval(c, doc) for c in node.children)
    if isinstance(node, Or):
        return any(ref_eval(c, doc) for c in node.children)
    assert isinstance(node, Near)
    left = [s for w in node.left for s in ref_spans(w, words)]
    right = [s for w in node.right for s in ref_spans(w, words)]
    return any((a1 <= b0 and b0 - a1 <= node.n) or (b1 <= a0 and a0 - b1 <= node.n)
               for a0, a1 in left for b0, b1 in right)


@FAST
@given(queries, docs())
def test_evaluation_agrees_with_a_word_by_word_reference(text, doc):
    query = parse(text)
    assert query.evaluate(doc) == ref_eval(query.root, doc)


@FAST
@given(st.lists(st.sampled_from(QUERY_WORDS), min_size=OR_MANY, max_size=10), docs())
def test_big_or_automaton_agrees_with_reference(words, doc):
    query = parse(" OR ".join(w + ("*" if i % 3 == 2 else "") for i, w in enumerate(words)))
    assert query.evaluate(doc) == ref_eval(query.root, doc)


def test_every_word_form_agrees_with_reference():
    """Exhaustive over the small vocabularies: plain, capitals, quoted and starred words."""
    for word in QUERY_WORDS:
        for text in (word, word.upper(), f'"{word}"', word[:3] + "*"):
            query = parse(text)
            for doc_word in DOC_WORDS:
                doc = Doc(["x", doc_word, "y"])
                assert query.evaluate(doc) == ref_eval(query.root, doc), (text, doc_word)


NEAR_WORDS = ["a", "b", "kursk", "курской", "курская", "troops"]
near_operand = st.one_of(
    st.sampled_from(NEAR_WORDS),
    st.sampled_from(NEAR_WORDS).map(lambda w: w[:2] + "*"),
    st.lists(st.sampled_from(NEAR_WORDS), min_size=2, max_size=2).map(
        lambda ws: '"' + " ".join(ws) + '"'),
)
near_operands = st.one_of(
    near_operand,
    st.lists(near_operand, min_size=2, max_size=3).map(lambda ops: "(" + " OR ".join(ops) + ")"),
)


@FAST
@given(near_operands, st.integers(0, 3), near_operands,
       st.lists(st.sampled_from(NEAR_WORDS), max_size=10))
def test_near_agrees_with_reference(left, n, right, words):
    query = parse(f"{left} NEAR/{n} {right}")
    doc = Doc(words)
    assert query.evaluate(doc) == ref_eval(query.root, doc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=12), st.lists(docs(), min_size=1, max_size=6),
       st.data())
def test_matcher_agrees_with_evaluating_every_query(texts, doc_list, data):
    compiled = [parse(t) for t in texts]
    matcher: Matcher[int] = Matcher()
    for key, query in enumerate(compiled):
        matcher.add(key, query)
    # remove and re-add some keys: the index must stay consistent through updates
    for key in data.draw(st.sets(st.integers(0, len(compiled) - 1))):
        matcher.remove(key)
        if data.draw(st.booleans()):
            matcher.add(key, compiled[key])
    keys = set(matcher)
    for doc in doc_list:
        expected = [k for k, q in enumerate(compiled) if k in keys and q.evaluate(doc)]
        assert sorted(matcher.match(doc)) == expected
