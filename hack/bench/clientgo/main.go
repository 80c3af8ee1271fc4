// Command clientgo is the client-go peer of hack/bench/informer_sync.py: it times an informer's
// initial sync of the Deployments in one namespace, typed (a SharedInformerFactory informer, what
// controller-runtime uses) or dynamic (unstructured), with the transform irc applies by default
// (managedFields and kubectl's last-applied annotation dropped), and prints one JSON line, which
// names the media types the apiserver answered the Deployment reads with. Mode "stream" only reads
// the apiserver's streaming list (a watch with sendInitialEvents) to its end bookmark, decoding
// nothing: the time the server takes to send it, which bounds every informer's streaming sync.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// strip is irc's default transform (irc.runtime.informer.strip_managed_fields).
func strip(obj interface{}) (interface{}, error) {
	if accessor, err := metaAccessor(obj); err == nil {
		accessor.SetManagedFields(nil)
		if annotations := accessor.GetAnnotations(); annotations != nil {
			if _, ok := annotations[lastApplied]; ok {
				delete(annotations, lastApplied)
				accessor.SetAnnotations(annotations)
			}
		}
	}
	return obj, nil
}

func metaAccessor(obj interface{}) (metav1.Object, error) {
	if o, ok := obj.(metav1.Object); ok {
		return o, nil
	}
	return nil, fmt.Errorf("%T has no metadata", obj)
}

// kib reads a field of /proc/self/status in KiB (VmRSS, VmHWM).
func kib(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			parts := strings.Fields(line)
			n, _ := strconv.ParseInt(parts[1], 10, 64)
			return n
		}
	}
	return 0
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}

// mediaTypes records the Content-Type of every response to a Deployment read: a typed clientset
// asks for protobuf unless the config names a content type (gentype.PrefersProtobuf), so the
// output says which wire format was timed rather than assuming it.
type mediaTypes struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]int
}

func (m *mediaTypes) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := m.next.RoundTrip(req)
	if err == nil && strings.Contains(req.URL.Path, "/deployments") {
		m.mu.Lock()
		m.seen[resp.Header.Get("Content-Type")]++
		m.mu.Unlock()
	}
	return resp, err
}

func (m *mediaTypes) counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.seen)
}

func settle() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return kib("VmRSS")
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "path to the kubeconfig")
	namespace := flag.String("namespace", "bench", "the Deployments' namespace")
	mode := flag.String("mode", "typed", "typed or dynamic")
	contentType := flag.String("content-type", "",
		"the media type to ask for (application/json); empty: client-go's default, protobuf for typed")
	flag.Parse()
	if *mode == "stream" && *contentType == "" {
		fail(fmt.Errorf("mode stream needs -content-type"))
	}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	config.QPS, config.Burst = -1, 1000 // no client-side throttling, as irc's bench client
	config.ContentType = *contentType
	wire := &mediaTypes{seen: map[string]int{}}
	config.Wrap(func(next http.RoundTripper) http.RoundTripper { wire.next = next; return wire })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var informer cache.SharedIndexInformer
	var start func()
	var streamed int
	switch *mode {
	case "typed", "stream":
		clientset, err := kubernetes.NewForConfig(config)
		if err != nil {
			fail(err)
		}
		// Connected and the namespace read before timing, as the Python side does.
		if _, err := clientset.CoreV1().Namespaces().Get(ctx, *namespace, metav1.GetOptions{}); err != nil {
			fail(err)
		}
		if *mode == "stream" {
			start = func() {
				streamed, err = readStream(ctx, clientset.AppsV1().RESTClient(), *namespace, *contentType)
				if err != nil {
					fail(err)
				}
			}
			break
		}
		factory := informers.NewSharedInformerFactoryWithOptions(
			clientset, 0, informers.WithNamespace(*namespace), informers.WithTransform(strip))
		informer = factory.Apps().V1().Deployments().Informer()
		start = func() { factory.Start(ctx.Done()) }
	case "dynamic":
		client, err := dynamic.NewForConfig(config)
		if err != nil {
			fail(err)
		}
		namespaces := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
		if _, err := client.Resource(namespaces).Get(ctx, *namespace, metav1.GetOptions{}); err != nil {
			fail(err)
		}
		factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(client, 0, *namespace, nil)
		deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		informer = factory.ForResource(deployments).Informer()
		if err := informer.SetTransform(strip); err != nil {
			fail(err)
		}
		start = func() { factory.Start(ctx.Done()) }
	default:
		fail(fmt.Errorf("unknown mode %q", *mode))
	}

	before := settle()
	cpu, wall := cpuSeconds(), time.Now()
	start()
	// Polled every millisecond: cache.WaitForCacheSync polls every 100 ms, too coarse for a sync of
	// under a second.
	deadline := time.Now().Add(10 * time.Minute)
	for informer != nil && !informer.HasSynced() {
		if time.Now().After(deadline) {
			fail(fmt.Errorf("the informer did not sync"))
		}
		time.Sleep(time.Millisecond)
	}
	elapsed, used := time.Since(wall).Seconds(), cpuSeconds()-cpu
	after := settle()
	if informer != nil {
		streamed = len(informer.GetStore().List())
	}
	out, _ := json.Marshal(map[string]interface{}{
		"mode":           *mode,
		"objects":        streamed,
		"sync_seconds":   elapsed,
		"cpu_seconds":    used,
		"rss_before_kib": before,
		"rss_after_kib":  after,
		"peak_kib":       kib("VmHWM"),
		"media_types":    wire.counts(),
	})
	fmt.Println(string(out))
}

// readStream reads a streaming list of the namespace's Deployments in the media type asked for
// (JSON lines, or protobuf frames each led by its length as 4 big-endian bytes) up to the bookmark
// that ends the initial events, and returns how many events came before it.
func readStream(ctx context.Context, client rest.Interface, namespace, contentType string) (int, error) {
	body, err := client.Get().Namespace(namespace).Resource("deployments").
		Param("watch", "true").Param("sendInitialEvents", "true").
		Param("resourceVersionMatch", "NotOlderThan").Param("allowWatchBookmarks", "true").
		SetHeader("Accept", contentType).Stream(ctx)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	reader, end := bufio.NewReaderSize(body, 1<<20), []byte("k8s.io/initial-events-end")
	var event []byte
	for events := 0; ; events++ {
		if strings.HasPrefix(contentType, "application/json") {
			event, err = reader.ReadBytes('\n')
		} else {
			var size [4]byte
			if _, err = io.ReadFull(reader, size[:]); err == nil {
				event = make([]byte, binary.BigEndian.Uint32(size[:]))
				_, err = io.ReadFull(reader, event)
			}
		}
		if err != nil {
			return events, err
		}
		if bytes.Contains(event, end) {
			return events, nil
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "clientgo:", err)
	os.Exit(1)
}
