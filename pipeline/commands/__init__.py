"""The standalone commands beside `vidlabel run`: each module is its flags (`parser`) and a small `main`."""
