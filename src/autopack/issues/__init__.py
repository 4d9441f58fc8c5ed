"""Issue tracking at the playbook's three levels: phase files, the run index, the project backlog."""
