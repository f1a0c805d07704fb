"""Generated contract code (written by scripts/gen_protos.py; private: use semsearch_client.messages)."""
