"""reelflow.jobs"""
