"""The keys that make one Cursor fact one count, whichever source saw it (hooks or database).

Cursor's hooks and its ``state.vscdb`` describe the same conversation with different ids, and
most hook events carry none at all (formats.md 4-5). So each fact gets a key both sides can
compute from what they do carry:

* session: the composer id, which is the hooks' ``conversation_id``;
* prompt and request (one agent turn): the generation id — the hook's ``generation_id``, the
  bubble's ``requestId``, ``aiService.generations[].generationUUID`` — else, for a prompt, a
  keyed hash of its text;
* tool call: the n-th call of one kind on one argument in the session (``Shell`` on a command,
  a read or an edit of one file, an MCP tool), as a keyed hash plus n. The hooks count n in a
  small state file per conversation (``hooks/cursor_state.py``); the database counts it in the
  composer's bubble order. Tools no hook reports (search, list, ...) keep Cursor's own
  ``toolCallId``.

Keys are HMAC hashes (``keyed_hash``), never raw hashes of text: a command or path cannot be
guessed back from them. Only ``hooks.primitives`` is used, so the hook can import this module.
"""

from blueplane_capture.hooks.primitives import keyed_hash

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: tool kinds that both the hooks and the database report, so their calls can be joined.
SHELL, READ, EDIT, MCP = "shell", "read", "edit", "mcp"

#: Cursor's tool names (hook ``tool_name`` and bubble ``toolFormerData.name``) -> kind.
_KINDS = {
    "shell": SHELL,
    "run_terminal_cmd": SHELL,
    "run_terminal_command": SHELL,
    "run_terminal_command_v2": SHELL,
    "terminal": SHELL,
    "read": READ,
    "read_file": READ,
    "read_file_v2": READ,
    "write": EDIT,
    "edit": EDIT,
    "strreplace": EDIT,
    "str_replace": EDIT,
    "search_replace": EDIT,
    "applypatch": EDIT,
    "apply_patch": EDIT,
    "delete": EDIT,
    "delete_file": EDIT,
    "edit_file": EDIT,
    "edit_file_v2": EDIT,
    "multiedit": EDIT,
}

#: argument keys that name a tool call's file or command, in the order they are tried.
_PATH_KEYS = ("file_path", "target_file", "targetFile", "path", "relativeWorkspacePath", "filePath")
_COMMAND_KEYS = ("command",)


def tool_kind(name: str) -> str:
    """The kind of a Cursor tool name, or "" for a tool no hook reports."""
    lowered = name.lower()
    if lowered.startswith("mcp"):
        return MCP
    return _KINDS.get(lowered, "")


def canonical_path(path: str, root: str) -> str:
    """A file path as both sides can spell it: relative to the workspace root when under it
    (the database often stores relative paths, hooks absolute ones), ``/``-separated."""
    path = path.replace("\\", "/")
    if path.startswith("file://"):
        path = path[len("file://") :]
    root = root.replace("\\", "/").rstrip("/")
    if root and path.startswith(root + "/"):
        path = path[len(root) + 1 :]
    while path.startswith("./"):
        path = path[2:]
    return path


def tool_argument(kind: str, args: "Any", root: str) -> str:
    """The argument that identifies a call of ``kind`` (command, canonical path, tool name)."""
    if not isinstance(args, dict):
        return ""
    keys = _COMMAND_KEYS if kind == SHELL else _PATH_KEYS if kind in (READ, EDIT) else ()
    for key in keys:
        value = args.get(key)
        if isinstance(value, str) and value:
            return value.strip() if kind == SHELL else canonical_path(value, root)
    if kind == MCP:
        for key in ("toolName", "tool_name", "name"):
            value = args.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


def tool_base(secret: bytes, session: str, kind: str, argument: str) -> str:
    """The keyed identity of "calls of ``kind`` on ``argument`` in ``session``"."""
    return keyed_hash(secret, f"{session}\x00{kind}\x00{argument}", "cursor_tool")


def tool_key(base: str, occurrence: int) -> str:
    """The key of the ``occurrence``-th (1-based) such call: the tool_use_id of its events."""
    return f"cursor:{base}:{occurrence}"


def prompt_key(secret: bytes, generation: str, text: "Any") -> str:
    """A prompt's id: its generation id, else a keyed hash of its text."""
    if generation:
        return generation
    return "text:" + keyed_hash(secret, text if isinstance(text, str) else "", "cursor_prompt")
