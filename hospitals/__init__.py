"""hospitals"""
