"""reelflow.activities"""
