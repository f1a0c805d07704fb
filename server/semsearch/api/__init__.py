"""Generated contract code (see scripts/gen_protos.py)."""
