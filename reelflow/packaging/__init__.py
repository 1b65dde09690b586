"""reelflow.packaging"""
