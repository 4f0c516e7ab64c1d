"""Video input: sampled frames (OpenCV), tracks (IoU tracker) and per-frame records. See ``osld.report`` for the
exposure report built from those records."""

from osld.video.detect import VideoRunSummary, detect_video, detect_videos, done_video_frames
from osld.video.source import VIDEO_EXTENSIONS, Frame, VideoInfo, VideoReadError, iter_frames, probe, split_inputs
from osld.video.tracking import IouTracker, box_iou, vote_brand

__all__ = ["VIDEO_EXTENSIONS", "Frame", "IouTracker", "VideoInfo", "VideoReadError", "VideoRunSummary", "box_iou",
           "detect_video", "detect_videos", "done_video_frames", "iter_frames", "probe", "split_inputs",
           "vote_brand"]
