"""Video in: files, cameras and streams, the camera module, MJPEG; read by capture/ and dumb/.

Neither of those imports the other: what both need lives here.
"""
