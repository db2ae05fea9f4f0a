"""pre-commit's commit-msg hook: a subject line under 72 characters, details in the body."""

import sys

LIMIT = 72

with open(sys.argv[1], encoding="utf-8") as f:
    subject = f.readline().rstrip("\n")
if len(subject) > LIMIT:
    sys.exit(f"commit subject is {len(subject)} characters: keep it under {LIMIT}, "
             "the details in the body after a blank line")
