"""huiminbao: the platform a city-customised supplementary medical insurance scheme (惠民保) runs on."""

__version__ = "0.1.0"
