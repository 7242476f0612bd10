"""connectors/sql"""
