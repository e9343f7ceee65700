"""Shared geography and device tables for the fintech streams: Haitian diaspora cities, Haiti, IP blocks."""

from __future__ import annotations

import numpy as np

# city, state, country, latitude, longitude, share of users living there (Haitian diaspora + Haiti)
HOME_CITIES = (
    ("Miami", "FL", "US", 25.7617, -80.1918, 0.13),
    ("North Miami", "FL", "US", 25.8901, -80.1867, 0.06),
    ("Fort Lauderdale", "FL", "US", 26.1224, -80.1373, 0.06),
    ("Orlando", "FL", "US", 28.5383, -81.3792, 0.06),
    ("Naples", "FL", "US", 26.1420, -81.7948, 0.02),
    ("Brooklyn", "NY", "US", 40.6782, -73.9442, 0.12),
    ("Queens", "NY", "US", 40.7282, -73.7949, 0.05),
    ("New York", "NY", "US", 40.7128, -74.0060, 0.04),
    ("Spring Valley", "NY", "US", 41.1132, -74.0438, 0.02),
    ("Boston", "MA", "US", 42.3601, -71.0589, 0.07),
    ("Brockton", "MA", "US", 42.0834, -71.0184, 0.03),
    ("Newark", "NJ", "US", 40.7357, -74.1724, 0.04),
    ("Elizabeth", "NJ", "US", 40.6640, -74.2107, 0.02),
    ("Philadelphia", "PA", "US", 39.9526, -75.1652, 0.03),
    ("Atlanta", "GA", "US", 33.7490, -84.3880, 0.04),
    ("Chicago", "IL", "US", 41.8781, -87.6298, 0.03),
    ("Stamford", "CT", "US", 41.0534, -73.5387, 0.02),
    ("Port-au-Prince", None, "HT", 18.5944, -72.3074, 0.05),
    ("Pétion-Ville", None, "HT", 18.5125, -72.2853, 0.015),
    ("Cap-Haïtien", None, "HT", 19.7578, -72.2042, 0.015),
    ("Les Cayes", None, "HT", 18.1934, -73.7460, 0.01),
    ("Gonaïves", None, "HT", 19.4515, -72.6890, 0.005),
    ("Jacmel", None, "HT", 18.2342, -72.5347, 0.005),
)
# where account-takeover traffic comes from when it is not domestic
FOREIGN_CITIES = (
    ("Lagos", None, "NG", 6.5244, 3.3792, 1.0),
    ("Bucharest", None, "RO", 44.4268, 26.1025, 1.0),
    ("São Paulo", None, "BR", -23.5505, -46.6333, 1.0),
    ("Manila", None, "PH", 14.5995, 120.9842, 1.0),
    ("Santo Domingo", None, "DO", 18.4861, -69.9312, 1.0),
    ("Montreal", "QC", "CA", 45.5017, -73.5673, 1.0),
    ("Paris", None, "FR", 48.8566, 2.3522, 1.0),
)
CITIES = HOME_CITIES + FOREIGN_CITIES
CITY_NAME, CITY_STATE, CITY_COUNTRY = (np.array([c[i] for c in CITIES], dtype=object) for i in range(3))
CITY_LAT = np.array([c[3] for c in CITIES])
CITY_LON = np.array([c[4] for c in CITIES])
HOME_P = np.array([c[5] for c in HOME_CITIES]) / sum(c[5] for c in HOME_CITIES)
IS_HAITI = np.array([c[2] == "HT" for c in HOME_CITIES])
US_BLOCKS = np.array([24, 47, 50, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 96, 97, 98, 99, 107, 108, 173, 174])
HT_BLOCKS = np.array([181, 186, 190, 200])
FOREIGN_BLOCKS = np.array([5, 31, 37, 41, 46, 79, 102, 103, 105, 110, 177, 179, 185, 187, 189, 197])
HOSTING_BLOCKS = np.array([104, 138, 139, 142, 157, 159, 161, 164, 165, 167, 178, 188, 198, 206, 209])

DEVICE_TYPES = ("ios", "android", "web_desktop", "web_mobile")
DEVICE_P = np.array([0.33, 0.42, 0.13, 0.12])
FRAUD_DEVICE_P = np.array([0.15, 0.30, 0.45, 0.10])  # takeovers lean to desktop browsers
DEVICES_PER_USER_P = np.array([0.55, 0.33, 0.12])
