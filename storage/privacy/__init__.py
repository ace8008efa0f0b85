"""Personal data: where every piece of it lives, and the queries that export, erase, anonymise,
purge and journal it (docs/PRIVACY.md). Everything here runs inside the caller's transaction.

- ``classification``: :data:`PERSONAL_DATA` (every column, with what erasure does to it), pseudonyms;
- ``journal``: the access journal;
- ``records``: finding a client, and everything stored about them (export, summary, files);
- ``erasure``: erasing clients, anonymising cases;
- ``retention``: the retention policy and the purge.
"""

from storage.privacy.classification import (
    ANONYMOUS_REFERENCE,
    HASH_PREFIX,
    PERSONAL_DATA,
    Pseudonyms,
    Treatment,
    columns_of,
)
from storage.privacy.erasure import (
    anonymise_cases,
    erase_clients,
    hash_legacy_inbox_ids,
    newest_message_id,
    open_cases_of,
)
from storage.privacy.journal import journal_lines, last_access, record_access
from storage.privacy.records import (
    client_files,
    client_of_case,
    client_record,
    client_summary,
    find_clients,
    identity_keys,
)
from storage.privacy.retention import Purge, RetentionPolicy, purge

__all__ = [
    "ANONYMOUS_REFERENCE",
    "HASH_PREFIX",
    "PERSONAL_DATA",
    "Pseudonyms",
    "Purge",
    "RetentionPolicy",
    "Treatment",
    "anonymise_cases",
    "client_files",
    "client_of_case",
    "client_record",
    "client_summary",
    "columns_of",
    "erase_clients",
    "find_clients",
    "hash_legacy_inbox_ids",
    "identity_keys",
    "journal_lines",
    "last_access",
    "newest_message_id",
    "open_cases_of",
    "purge",
    "record_access",
]
