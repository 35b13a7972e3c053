"""Policy news: parsing feeds, tagging minerals and countries, classifying events."""
