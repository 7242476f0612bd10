"""An incident's notes stay bounded, however long a unit is awaited (issue 14, item 6).

The escalation round retries an incident waiting for a free unit every few seconds, and each try that
finds none writes "no available 122/120 unit": two services short alternate two texts, so "the same note
twice in a row is kept once" did not stop them; notes grew without bound. Now:
- a note already among the incident's notes since its last other kind of note (same kind, same text) is
  not written again: "awaiting a unit" is said once per wait, however many rounds retry;
- a note's text is cut at ``MAX_TEXT`` characters;
- an incident keeps at most ``MAX_NOTES`` notes: the first ``KEEP_FIRST`` (how it started) and the latest.
These bounds are the project's own (what a dispatcher's panel can show), not a rule of any regulation."""
from __future__ import annotations

from dispatch.records import Note

MAX_TEXT = 500
MAX_NOTES = 50
KEEP_FIRST = 5


def repeats_the_wait(notes: tuple[Note, ...], kind: str, text: str) -> bool:
    """True when this note says again what the notes since the last note of another kind already say."""
    for n in reversed(notes):
        if n.kind != kind:
            return False
        if n.text == text:
            return True
    return False


def with_note(notes: tuple[Note, ...], note: Note) -> tuple[Note, ...]:
    """``notes`` and ``note`` (its text cut), at most ``MAX_NOTES`` of them: the first few and the latest."""
    if len(note.text) > MAX_TEXT:
        note = Note(note.at, note.kind, note.text[:MAX_TEXT - 1] + "…", note.extra)
    out = notes + (note,)
    if len(out) > MAX_NOTES:
        out = out[:KEEP_FIRST] + out[-(MAX_NOTES - KEEP_FIRST):]
    return out
