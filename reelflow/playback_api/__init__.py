"""reelflow.playback_api"""
