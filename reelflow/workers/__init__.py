"""reelflow.workers"""
