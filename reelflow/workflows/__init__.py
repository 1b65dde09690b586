"""reelflow.workflows"""
