"""Inventory: the cities, the 14 city nodes, the 7 PRD platforms and the business systems.

This is the bottom layer: plain pydantic models and the loader for the files
under ``inventory/``. It knows nothing of Kafka, the store or Ansible.
"""
