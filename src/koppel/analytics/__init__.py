"""Revenue analytics from ERP facts in CRM context (R9): targets, risers and fallers, value."""
