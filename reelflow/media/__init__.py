"""reelflow.media"""
